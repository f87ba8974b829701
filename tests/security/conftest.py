"""Security-test fixtures: the real chromium of tests/browser (re-exported)."""

from tests.browser.conftest import browser, shot

__all__ = ["browser", "shot"]
