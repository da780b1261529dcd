import { cassandraNodePaths } from './cassandra-node-paths.js'
import type { CassandraNodeSpec } from './cassandra-node-spec.js'

const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

/**
 * logback.xml: INFO and above to <dir>/logs/system.log (rolled at 20 MB, 5 files kept), nothing to
 * the console, no debug.log. Cassandra stops logback itself after draining, hence no shutdown hook.
 */
export function renderLogbackXml(spec: CassandraNodeSpec): string {
  const log = escapeXml(cassandraNodePaths(spec.dir).systemLog)
  return `<configuration scan="false">
  <appender name="SYSTEMLOG" class="ch.qos.logback.core.rolling.RollingFileAppender">
    <file>${log}</file>
    <rollingPolicy class="ch.qos.logback.core.rolling.FixedWindowRollingPolicy">
      <fileNamePattern>${log}.%i.zip</fileNamePattern>
      <minIndex>1</minIndex>
      <maxIndex>5</maxIndex>
    </rollingPolicy>
    <triggeringPolicy class="ch.qos.logback.core.rolling.SizeBasedTriggeringPolicy">
      <maxFileSize>20MB</maxFileSize>
    </triggeringPolicy>
    <encoder>
      <pattern>%-5level [%thread] %date{ISO8601} %logger{0} - %msg%n</pattern>
    </encoder>
  </appender>
  <root level="INFO">
    <appender-ref ref="SYSTEMLOG" />
  </root>
</configuration>
`
}
