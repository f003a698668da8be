"""The dispatcher's live map: the GeoJSON feed and the map page."""
