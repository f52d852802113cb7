"""Which methods a run uses: the suite's, or named ones, plus specs of its samplers and deepinv peers.

A spec is ``NAME:key=value,...`` (keywords such as a warm start, ``ddrm:start=noise,sigma0=0.2``)
or ``NAME:meanK`` (the posterior mean of K draws, charged K × NFE) or ``NAME:tuned`` (the shipped tuned
table's values): :func:`invdiff.bench.spec.parse_spec`.
"""

from __future__ import annotations

import dataclasses

from .spec import Method, Suite, parse_spec

__all__ = ["SPEC_KINDS", "select_methods"]

# the kinds of method a spec may vary: our samplers, a custom sampler, deepinv's peers (keywords only)
SPEC_KINDS = ("sampler", "custom", "deepinv")


def _runner_for(m: Method):
    from .run import runner_for  # the runner of m's kind (run imports this module)

    return runner_for(m)


def select_methods(suite: Suite, names=None, check=None) -> list[Method]:
    """The methods to run: the suite's (all when ``names`` is None, else those named, in the suite's
    order), then each method spec among ``names`` (``"ddrm:start=noise"``, ``"ddrm:mean8"``:
    :func:`invdiff.bench.spec.parse_spec`) in the order given.  A spec's base must be one of the
    suite's samplers or deepinv peers (``deepinv-dps:weight=300``: keywords only); it inherits that
    method's NFE list, function and keywords.  Unknown names, malformed specs and keywords the method
    does not take are a ``ValueError`` (one line)."""
    if names is None:
        return list(suite.methods)
    if isinstance(names, str):
        names = [names]
    names = list(dict.fromkeys(str(n).strip() for n in names))
    by_name = {m.name: m for m in suite.methods}
    unknown = [n for n in names if n not in by_name and ":" not in n]
    if unknown:
        raise ValueError(
            f"unknown methods {sorted(unknown)} for suite {suite.name!r} (it has {', '.join(by_name)}; "
            "variants of a sampler: NAME:ITEM,... e.g. ddrm:start=noise, ddrm:mean8)"
        )
    out = [m for m in suite.methods if m.name in names]
    samplers = [m.name for m in suite.methods if m.kind in SPEC_KINDS]
    for n in names:
        if n in by_name:
            continue
        spec = parse_spec(n)
        base = by_name.get(spec.key)
        if base is None or base.kind not in SPEC_KINDS:
            raise ValueError(
                f"method spec {n!r}: {spec.key!r} is not a sampler of suite {suite.name!r} "
                f"(its samplers: {', '.join(samplers) or 'none'})"
            )
        m = dataclasses.replace(
            base, name=spec.name, kw={**base.kw, **spec.kw}, samples=spec.samples, base=base.key, tuned=spec.tuned
        )
        (check or _runner_for)(m)  # checks the keywords now, before any work
        out.append(m)
    return out
