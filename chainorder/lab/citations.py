"""One home for every citation text: the article, the textbook, Hu–Shing, the peers, chainorder.

Report pages, the README and ``CITATION.cff`` cite from here; a test checks
that the README and ``CITATION.cff`` carry the same texts.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..version import __version__

__all__ = ["Reference", "REFERENCES", "CHAINORDER", "reference", "references_markdown", "bibtex"]


@dataclass(frozen=True)
class Reference:
    """A work cited by the reports: a key, its title, its full text and what it is cited for."""

    key: str
    title: str
    text: str
    used_for: str


#: Every work the reports cite, by key.
REFERENCES: dict[str, Reference] = {r.key: r for r in (
    Reference("desai2018", "Backpropagation",
              'Shrey Desai, "Backpropagation", article, 2018-12-20, on his blog '
              "https://shreydesai.github.io/.",
              "the two orders (its forwards and backwards computations) and their cost "
              "formulas, checked here"),
    Reference("cormen2009", "Introduction to Algorithms",
              "Thomas H. Cormen, Charles E. Leiserson, Ronald L. Rivest and Clifford Stein, "
              "*Introduction to Algorithms*, 3rd ed., MIT Press, 2009, §15.2 "
              "(matrix-chain multiplication).",
              "the cost unit p·q·r and the O(n^3) dynamic program"),
    Reference("hushing1982", "Computation of matrix chain products. Part I",
              "T. C. Hu and M. T. Shing, \"Computation of matrix chain products. Part I\", "
              "*SIAM Journal on Computing* 11(2), 362–373, 1982.",
              "the O(n log n) exact optimizer"),
    Reference("hushing1984", "Computation of matrix chain products. Part II",
              "T. C. Hu and M. T. Shing, \"Computation of matrix chain products. Part II\", "
              "*SIAM Journal on Computing* 13(2), 228–251, 1984.",
              "the O(n log n) exact optimizer"),
    Reference("numpy", "Array programming with NumPy",
              "Charles R. Harris et al., \"Array programming with NumPy\", *Nature* 585, "
              "357–362, 2020 (`numpy.linalg.multi_dot`).",
              "every product, and the peer chain-order DP inside `multi_dot`"),
    Reference("opt_einsum",
              "opt_einsum - A Python package for optimizing contraction order for einsum-like "
              "expressions",
              "Daniel G. A. Smith and Johnnie Gray, \"opt_einsum - A Python package for "
              "optimizing contraction order for einsum-like expressions\", *Journal of Open "
              "Source Software* 3(26), 753, 2018.",
              "peer contraction-path optimizers"),
    Reference("cotengra", "Hyper-optimized tensor network contraction",
              "Johnnie Gray and Stefanos Kourtis, \"Hyper-optimized tensor network "
              "contraction\", *Quantum* 5, 410, 2021 (cotengra).",
              "peer contraction-path optimizers"),
    Reference("naumann2020",
              "Optimization of Generalized Jacobian Chain Products without Memory Constraints",
              "Uwe Naumann, \"Optimization of Generalized Jacobian Chain Products without "
              "Memory Constraints\", arXiv:2003.05755, 2020.",
              "the generalized (matrix-free) Jacobian chain problem and its dynamic program"),
    Reference("naumann2024", "Matrix-Free Jacobian Chaining",
              "Uwe Naumann, \"Matrix-Free Jacobian Chaining\", arXiv:2406.11862, 2024.",
              "the matrix-free chain under a memory (tape) bound"),
    Reference("admission", "ADMission",
              "STCE, RWTH Aachen University, *ADMission* (software, MIT licence), release "
              "0.1.0, 2022, https://github.com/STCE-at-RWTH/ADMission.",
              "the five public `problem_dense*` chains and the costs its `gdjcpb_solve` prints "
              "for them"),
    Reference("jacobian_chaining", "Jacobian-Chaining",
              "STCE, RWTH Aachen University, *Jacobian-Chaining* (software), "
              "https://github.com/STCE-at-RWTH/Jacobian-Chaining, "
              "doi:10.5281/zenodo.15373160.",
              "the memory-bounded optimizer the bound here follows"),
    Reference("maertens2025", "Scheduled Jacobian Chaining",
              'Simon Märtens and Uwe Naumann, "Scheduled Jacobian Chaining", 2025, '
              "arXiv:2505.06056, https://arxiv.org/abs/2505.06056; its configurations and "
              "data sets are Jacobian-Chaining's `additionals/acda25`.",
              "the scheduled and memory-bounded Jacobian chain and its branch and bound"),
    Reference("jax2018", "JAX: composable transformations of Python+NumPy programs",
              "James Bradbury, Roy Frostig, Peter Hawkins, Matthew James Johnson, Chris Leary, "
              "Dougal Maclaurin, George Necula, Adam Paszke, Jake VanderPlas, Skye "
              "Wanderman-Milne and Qiao Zhang, \"JAX: composable transformations of "
              "Python+NumPy programs\", software, 2018, https://github.com/jax-ml/jax.",
              "the AD engine whose modes (`jax.jacfwd`, `jax.jacrev`) are timed"),
    Reference("griewank2008", "Evaluating Derivatives",
              "Andreas Griewank and Andrea Walther, *Evaluating Derivatives: Principles and "
              "Techniques of Algorithmic Differentiation*, 2nd ed., SIAM, 2008, "
              "doi:10.1137/1.9780898717761.",
              "forward and reverse mode, their costs and the Jacobian accumulation problem"),
)}

#: chainorder itself, as ``CITATION.cff`` describes it.
CHAINORDER = {
    "title": "chainorder", "version": __version__, "date-released": "2026-11-28",
    "authors": "The chainorder developers", "license": "MIT",
}


def reference(key: str) -> Reference:
    """The reference with this key; an unknown key lists the valid ones."""
    try:
        return REFERENCES[key]
    except KeyError:
        raise KeyError(f"no reference {key!r}; valid: {', '.join(REFERENCES)}") from None


def references_markdown(keys: tuple[str, ...] | list[str]) -> str:
    """A Markdown list of the references with these keys, in the given order.

    Examples
    --------
    >>> print(references_markdown(["desai2018"]))
    - Shrey Desai, "Backpropagation", article, 2018-12-20, on his blog https://shreydesai.github.io/. Cited for the two orders (its forwards and backwards computations) and their cost formulas, checked here.
    """  # noqa: E501
    refs = [reference(k) for k in dict.fromkeys(keys)]
    return "\n".join(f"- {r.text} Cited for {r.used_for}." for r in refs)


def bibtex(commit: str | None = None) -> str:
    """A BibTeX entry for chainorder (the fields of ``CITATION.cff``).

    Examples
    --------
    >>> print(bibtex().splitlines()[0])
    @software{chainorder,
    """
    c = CHAINORDER
    year, month = c["date-released"][:4], c["date-released"][5:7]
    note = f"version {c['version']}" + (f", commit {commit[:12]}" if commit else "")
    return "\n".join([
        "@software{chainorder,",
        f"  title   = {{{c['title']}: the order in which a chain of Jacobians is multiplied}},",
        f"  author  = {{{{{c['authors']}}}}},",
        f"  year    = {{{year}}},",
        f"  month   = {{{month}}},",
        f"  version = {{{c['version']}}},",
        f"  license = {{{c['license']}}},",
        f"  note    = {{{note}}}",
        "}",
    ])
