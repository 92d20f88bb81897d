"""Read and write factor chains in the plain text format of ADMission's ``gdjcpb_solve``.

The format: the first line holds ``q``, the number of factors; then one line
``m n |E|`` per factor, factor 0 (applied first) on line 2, so each line's
``n`` equals the line before's ``m``. One tangent or adjoint of a factor costs
its ``|E|`` (``T_i = A_i = |E_i|``), its tape ``|E_i|`` entries. Blank lines
are skipped; anything else that does not fit is an error naming its line.

Example, a chain ``R^1 -> R^10 -> R^5``::

    2
    10 1 75
    5 10 22

chainorder ships ADMission's five public instances (MIT; see
``chainorder/algebra/data/admission/README.md``): :func:`read_chain` takes
their names, e.g. ``read_chain("problem_dense50")``, and
:func:`shipped_chains` lists them.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path

from .gjc import Factor, check_factors

__all__ = [
    "read_chain",
    "write_chain",
    "format_chain",
    "parse_chain",
    "shipped_chains",
    "shipped_chain_path",
]


def shipped_chains() -> tuple[str, ...]:
    """The names of the chain files chainorder ships, shortest chain first.

    Examples
    --------
    >>> shipped_chains()
    ('problem_dense10', 'problem_dense50', 'problem_dense100', 'problem_dense150', \
'problem_dense200')
    """
    names = [p.name for p in _shipped_dir().iterdir() if p.name.startswith("problem_")]
    return tuple(sorted(names, key=lambda n: (len(n), n)))


def shipped_chain_path(name: str) -> Path:
    """The path of a shipped chain file by name (see :func:`shipped_chains`)."""
    if name not in shipped_chains():
        raise ValueError(f"no shipped chain {name!r}; shipped: {', '.join(shipped_chains())}")
    return _shipped_dir() / name


def _shipped_dir() -> Path:
    return Path(str(files("chainorder.algebra") / "data" / "admission"))


def read_chain(source: str | os.PathLike[str]) -> tuple[Factor, ...]:
    """The factors of a chain file, or of its text.

    Parameters
    ----------
    source : str or path-like
        A path, or the file's text itself (a ``str`` holding a line break).

    Returns
    -------
    tuple of Factor
        ``Factor.from_edges(m, n, |E|)`` per line, factor 0 first.

    Examples
    --------
    >>> read_chain("2\\n10 1 75\\n5 10 22\\n")
    (Factor(m=10, n=1, tangent_cost=75, adjoint_cost=75, tape=75), \
Factor(m=5, n=10, tangent_cost=22, adjoint_cost=22, tape=22))
    >>> read_chain("3\\n10 1 75\\n5 10 22\\n")
    Traceback (most recent call last):
    ...
    ValueError: line 1 says q=3 factors but the text has 2 factor lines after it
    """
    if isinstance(source, str) and "\n" in source:
        return parse_chain(source)
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            f"source must be a path or the chain's text, got {type(source).__name__}"
        )
    path = Path(source)
    if not path.exists() and str(path) in shipped_chains():  # a bare name, no such file here
        path = shipped_chain_path(str(path))
    if path.exists() and not path.is_file():
        what = "a directory" if path.is_dir() else "not a regular file (a FIFO or device?)"
        raise ValueError(f"chain file {str(path)!r} is {what}; expected a text file")
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ValueError(f"no chain file {str(path)!r} (nor a shipped chain: "
                         f"{', '.join(shipped_chains())})") from None
    except OSError as exc:  # a directory, no permission, ...
        raise ValueError(f"cannot read chain file {str(path)!r}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"chain file {str(path)!r} is not text: {exc.reason}") from None
    return parse_chain(text, where=f"{path}: ")


def parse_chain(text: str, where: str = "") -> tuple[Factor, ...]:
    """The factors of a chain's text; errors start with ``where`` and name the line."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    rows = [(no, line.split()) for no, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not rows:
        raise ValueError(f"{where}line 1: expected q, the number of factors; the text is empty")
    no, head = rows[0]
    if len(head) != 1:
        raise ValueError(
            f"{where}line {no}: expected one number q (the number of factors), "
            f"got {len(head)} tokens {' '.join(head)!r}"
        )
    q = _positive(head[0], no, "q", where)
    body = rows[1:]
    if len(body) < q:
        raise ValueError(
            f"{where}line {no} says q={q} factors but the text has {len(body)} factor "
            f"line{'' if len(body) == 1 else 's'} after it"
        )
    if len(body) > q:
        extra = body[q][0]
        raise ValueError(
            f"{where}line {extra}: extra line; line {no} says q={q} factors and they end "
            f"on line {body[q - 1][0]}"
        )
    factors: list[Factor] = []
    for i, (no, tokens) in enumerate(body):
        if len(tokens) != 3:
            raise ValueError(
                f"{where}line {no}: expected three numbers 'm n |E|' for factor {i}, "
                f"got {len(tokens)} tokens {' '.join(tokens)!r}"
            )
        names = ("m", "n", "|E|")
        m, n, e = (_positive(t, no, nm, where) for t, nm in zip(tokens, names, strict=True))
        if factors and n != factors[-1].m:
            raise ValueError(
                f"{where}line {no}: factor {i} has n={n} inputs but factor {i - 1} "
                f"(line {body[i - 1][0]}) has m={factors[-1].m} outputs; they must be equal"
            )
        factors.append(Factor.from_edges(m, n, e))
    return tuple(factors)


def _positive(token: str, no: int, name: str, where: str) -> int:
    try:
        value = int(token)
    except ValueError:
        raise ValueError(
            f"{where}line {no}: {name} must be a positive integer, got {token!r}"
        ) from None
    if value < 1:
        raise ValueError(f"{where}line {no}: {name} must be a positive integer, got {value}")
    return value


def format_chain(factors: Sequence[Factor]) -> str:
    """The chain's text in the ``gdjcpb_solve`` format (needs ``T = A = |E|`` per factor).

    Examples
    --------
    >>> print(format_chain([Factor.from_edges(10, 1, 75), Factor.from_edges(5, 10, 22)]), end="")
    2
    10 1 75
    5 10 22
    """
    f = check_factors(factors)
    for i, x in enumerate(f):
        if not x.tangent_cost == x.adjoint_cost == x.tape:
            raise ValueError(
                f"factors[{i}] has tangent_cost={x.tangent_cost}, adjoint_cost={x.adjoint_cost}, "
                f"tape={x.tape}; the format stores one |E| per factor (T = A = |E|)"
            )
    sparse = [i for i, x in enumerate(f) if x.pattern is not None]
    if sparse:
        warnings.warn(
            f"factors {sparse} carry sparsity patterns, which the gdjcpb_solve format cannot "
            "hold: they are left out (Schedule.to_dict keeps them)", stacklevel=2)
    return "".join([f"{len(f)}\n", *(f"{x.m} {x.n} {x.tape}\n" for x in f)])


def write_chain(factors: Sequence[Factor], path: str | os.PathLike[str]) -> None:
    """Write the chain to ``path`` in the ``gdjcpb_solve`` format (see :func:`format_chain`)."""
    Path(path).write_text(format_chain(factors))
