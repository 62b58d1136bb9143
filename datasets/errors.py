"""The root of covgap's exception hierarchy and the input-data errors.

The root lives here, in the lowest layer that raises errors, so that the
loaders in ``covgap.datasets`` and the domain in ``covgap`` share one
hierarchy without ``datasets`` importing the domain. Users import every
class from :mod:`covgap.errors`.
"""

from __future__ import annotations


class CovgapError(Exception):
    """Base class of every error covgap raises on purpose."""


class InputFileError(CovgapError, OSError):
    """An input file is missing, unreadable or not of the expected format.

    The message names the file and what was expected.
    """


class InputValueError(CovgapError, ValueError):
    """An input file holds a value that is out of range or of the wrong type.

    The message names the file, the row (1-based, header excluded) or
    feature, the field, the bad value and what was expected.
    """


class CovgapWarning(UserWarning):
    """A problem covgap works around: skipped rows or sites, defaults filled in.

    The message says what was done and how many items it touched.
    """
