"""pg-failover node agent: the load balancer's health probes and the lease, on one PostgreSQL VM.

Python 3 standard library only (every Azure Linux image has python3 for the Azure Linux Agent);
PostgreSQL is reached by running psql over the local socket as the postgres OS user.

Modules: config (the settings file), observe (psql: one look, the fence statements), decide (the
pure decision function), peers (asking the other nodes' agents), server (HTTP), agent (the loop).
"""
