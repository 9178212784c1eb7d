# The tiny-company fixtures of the extraction tests serve the contract tests too.
from tests.extract.conftest import _company_template, company, company_with_dims  # noqa: F401
