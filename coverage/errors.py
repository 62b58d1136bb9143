"""covgap's exception hierarchy: one root, :class:`CovgapError`.

========================  ============================================
class                     raised when
========================  ============================================
``CovgapError``           base of everything below
``InputFileError``        an input file is missing or unreadable
``InputValueError``       an input file holds a bad value
``ScenarioError``         a scenario file has an unknown key or a bad value
``GridError``             the analysis grid cannot be built
``SiteError``             a site cannot be modelled (bad height, frequency)
``OutputExistsError``     an output directory exists and ``--overwrite``
                          was not given
``NotFoundError``         a run, layer or tile asked of a results
                          directory does not exist
``RequestError``          a request's arguments are out of range
``CovgapWarning``         (a warning) something was skipped or defaulted
========================  ============================================
"""

from __future__ import annotations

from covgap.datasets.errors import CovgapError, CovgapWarning, InputFileError, InputValueError

__all__ = [
    "CovgapError",
    "CovgapWarning",
    "InputFileError",
    "InputValueError",
    "ScenarioError",
    "GridError",
    "SiteError",
    "OutputExistsError",
    "NotFoundError",
    "RequestError",
]


class ScenarioError(CovgapError, ValueError):
    """A scenario file names an unknown key or holds a value out of range."""


class GridError(CovgapError, ValueError):
    """The analysis grid cannot be built from the inputs and settings."""


class SiteError(CovgapError, ValueError):
    """A site cannot be modelled; the message names the site and field."""


class OutputExistsError(CovgapError, FileExistsError):
    """An output directory exists and overwriting was not allowed."""


class NotFoundError(CovgapError, LookupError):
    """A run, layer or other named result does not exist."""


class RequestError(CovgapError, ValueError):
    """A request's arguments are out of range (zoom, tile index, point)."""
