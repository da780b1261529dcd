-- The read 80 % of the "rw" workload: one primary-key lookup, autocommit (the same statement as pgbench -S).
\set aid random(1, 100000 * :scale)
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
