"""The generic webhook's name, used for its package, endpoint, config section, fixtures and log fields."""

SOURCE = "webhook"
