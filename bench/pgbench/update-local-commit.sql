-- The write 20 % of the "rw" workload: one primary-key UPDATE in an explicit transaction.
-- SET LOCAL synchronous_commit = local: the lab's primary commits synchronously to the eu-west standby
-- through the emulated 40 ms WAN link, so a plain commit waits ~83 ms for the round trip and the proxy
-- would be invisible behind it. SET LOCAL lasts for this transaction only, so it is safe with
-- transaction pooling (Grey, pgbouncer) and leaves no state on a pooled server connection.
\set aid random(1, 100000 * :scale)
\set delta random(-5000, 5000)
BEGIN;
SET LOCAL synchronous_commit = local;
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
END;
