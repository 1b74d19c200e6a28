#!/usr/bin/python3
"""pg-failover node agent: serves the Azure load balancer's health probes for this PostgreSQL node
(/primary, /replica) and enforces the app's lease (failsafe, self-fencing). See agent/README.md.

Run by pg-failover-node-agent.service as the postgres OS user; `--config FILE` to name the settings.
"""

import os
import sys

# The package lives beside this file; under `python3 -I` (as the unit runs it) the script's own
# directory is not on sys.path, so it is added explicitly.
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

from node_agent.agent import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
