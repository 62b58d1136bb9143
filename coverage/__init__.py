"""covgap: mobile coverage-gap analysis over terrain and population.

The import package ``covgap`` is built from the ``coverage/`` folder; its
sub-packages ``covgap.kernels``, ``covgap.datasets`` and
``covgap.tileserver`` come from the folders of the same names.
"""

from covgap._version import __version__

__all__ = ["__version__"]
