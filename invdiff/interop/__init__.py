"""Bridges to deepinv, one concern per module: :mod:`.denoiser` (Prior <-> deepinv ``Denoiser``),
:mod:`.physics` (deepinv physics <-> operators), :mod:`.diffunet` (deepinv's ADM network),
:mod:`.sample_view` (one sample of a batched operator; torch only).  deepinv is imported
nowhere else in invdiff but :mod:`invdiff.bench.peers`."""
