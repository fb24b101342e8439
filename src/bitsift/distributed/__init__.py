"""Scale-out on Ray (``pip install 'bitsift[ray]'``): namespaces split into shards, each an
ordinary namespace folder owned by a Ray actor, searched as one with identical results.

``bitsift.Client(ray="auto", path=...)`` and ``bitsift serve --ray ADDRESS`` use
:class:`ShardedEngine`; see ARCHITECTURE.md ("Scale-out") and README.md ("Deployment on Ray").
"""

from bitsift.distributed.sharded import ShardedEngine

__all__ = ["ShardedEngine"]
