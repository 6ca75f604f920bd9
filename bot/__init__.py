"""What every part of the Bekhedmetkom gateway shares: settings, language, i18n, references, privacy."""
