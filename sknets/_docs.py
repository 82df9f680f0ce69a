"""Where sknets' documentation lives, for the links of the HTML repr.

scikit-learn's HTML representation of an estimator (in notebooks) links each
estimator to its API reference page. ``DocLinkMixin`` points sknets' classes
at sknets' own pages: ``<DOCS_URL>generated/<public name>.html``, the page
Sphinx's autosummary writes for each entry of ``docs/api.rst``.
"""

import itertools

__all__ = ["DOCS_URL", "DocLinkMixin", "public_name"]

# The published documentation (docs/ built by Sphinx); the only place that
# names it besides pyproject.toml's project URLs.
DOCS_URL = "https://sknets.readthedocs.io/en/latest/"


def public_name(cls):
    """The dotted name under which ``cls`` is documented.

    Classes exported by the ``sknets`` package are documented there
    (``sknets.MLPClassifierTorch``); others under their module up to its
    first private part (``sknets.model_selection.GridSearchCV``).

    Parameters
    ----------
    cls : type
        An sknets class.

    Returns
    -------
    name : str

    Examples
    --------
    >>> from sknets import MLPClassifierTorch
    >>> from sknets.preprocessing import PixelScaler
    >>> public_name(MLPClassifierTorch), public_name(PixelScaler)
    ('sknets.MLPClassifierTorch', 'sknets.preprocessing.PixelScaler')
    """
    import sknets

    if getattr(sknets, cls.__name__, None) is cls:
        return f"sknets.{cls.__name__}"
    module = ".".join(itertools.takewhile(lambda part: not part.startswith("_"),
                                          cls.__module__.split(".")))
    return f"{module}.{cls.__name__}"


class DocLinkMixin:
    """Link the HTML repr of an estimator to its page in sknets' API reference.

    Put it first among the bases of an estimator class.

    Examples
    --------
    >>> from sknets import MLPClassifierTorch
    >>> MLPClassifierTorch()._get_doc_link()
    'https://sknets.readthedocs.io/en/latest/generated/sknets.MLPClassifierTorch.html'
    """

    _doc_link_module = "sknets"
    _doc_link_template = DOCS_URL + "generated/{name}.html"

    def _doc_link_url_param_generator(self):
        return {"name": public_name(type(self))}
