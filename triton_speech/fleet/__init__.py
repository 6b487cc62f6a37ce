"""The local fleet: the Helm chart's topology run as processes on one machine, for real.

N Triton replicas (the launcher, each on ports of its own) loading one model repository from an S3 object store,
HAProxy in front of their gRPC and HTTP ports with active health checks on ``/v2/health/ready``, and gateways
sharing one PostgreSQL database and one media bucket behind the same HAProxy. ``python -m triton_speech.fleet``
(``make fleet``) runs it until Ctrl-C or SIGTERM.

Modules, one job each: ``children`` (a process started, watched and stopped, with what it started), ``objectstore``
(the S3 API: moto's server), ``postgres`` (a private PostgreSQL server), ``replicas`` (the Triton launchers),
``gateways`` (the gateway processes), ``balancer`` (HAProxy's configuration and statistics), ``fleet`` (the order of
things, restarts, the stop), ``__main__`` (the command).
"""

from triton_speech.fleet.children import FleetError
from triton_speech.fleet.fleet import Fleet, FleetSettings

__all__ = ["Fleet", "FleetError", "FleetSettings"]
