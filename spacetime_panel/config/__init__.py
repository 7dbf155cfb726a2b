"""Settings: the typed model and its loading from defaults, file, environment and flags."""
