"""The domain: settings, canonical keys and templates, Chinese text, file formats. Imports nothing else of the project."""
