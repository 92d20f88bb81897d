"""The laboratory: cases, the machine, sweeps, results, one module per study, the report.

Data flow::

    cases  ->  machine (facts, BLAS threads)  ->  sweep (timed, counted runs)  ->  results (tables)
           ->  studies/ (base: protocol, registry, shared table and figure helpers;
                         one module per report page)  ->  report (orchestration, page frame)
    settings (what a report measures), citations (one home for every reference), verify

Import what you need from its module, e.g. ``from chainorder.lab.report import
generate_report``; this package imports nothing heavy on its own.
"""
