"""Speech and text the project makes itself: template sentences, the synthesizers that speak them, NeMo manifests
and the spoken sentences export calibrates with. Shared by ``training``, ``export`` and ``benchmarks``; it imports
none of them."""
