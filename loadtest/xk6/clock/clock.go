// Package clock exports now(): milliseconds, with microsecond resolution, on Go's monotonic clock.
package clock

import (
	"time"

	"go.k6.io/k6/js/modules"
)

var origin = time.Now()

type rootModule struct{}

type instance struct{}

func (rootModule) NewModuleInstance(modules.VU) modules.Instance { return instance{} }

func (instance) Exports() modules.Exports {
	return modules.Exports{Named: map[string]any{"now": now}}
}

func now() float64 {
	return float64(time.Since(origin).Microseconds()) / 1000
}

func init() {
	modules.Register("k6/x/grey/clock", rootModule{})
}
