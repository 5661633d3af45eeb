"""The after-crawl flow: the steps that follow every crawl, above crawler/, pipelines/ and alerts/."""
