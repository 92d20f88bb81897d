"""One module per report study; the registry lives in :mod:`chainorder.lab.studies.base`."""
