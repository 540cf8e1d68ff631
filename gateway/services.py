"""The long-lived helpers the stages use, loaded once per process: templates, classifier, locator, geocoder."""

from __future__ import annotations

import logging

from gateway.outbox.templates import build_templates
from gateway.pipeline import Services
from gateway.settings import ConfigError, Settings

log = logging.getLogger(__name__)


def build_services(settings: Settings) -> Services:
    """Load the long-lived helpers once: templates, classifier, locator."""
    services = Services(settings=settings, templates=build_templates(settings.replies.templates_dir or None))
    _load_understanding(services)
    return services


def _load_understanding(services: Services) -> None:
    """The classifier and locator, when their packages are installed in this build."""
    try:
        from rules.classify import build_classifier
        from rules.types import RuleConfigError
    except ImportError:
        log.warning("classifier not available; tickets go to triage")
    else:
        r = services.settings.rules
        try:
            services.classifier = build_classifier(r.file or None, r.model or None, r.triage_threshold)
        except RuleConfigError as exc:  # a bad rules file or model stops the start with one line
            raise ConfigError(str(exc)) from None
    try:
        from gateway.geocoding import build_geocoder
        from parsers.location import TextLocator
    except ImportError:
        return
    services.locator = TextLocator()  # subject, new words, photo GPS, a phone's shared location
    services.geocoder = build_geocoder(services.settings.geocoder)  # ConfigError for an unreadable street list
