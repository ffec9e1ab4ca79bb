"""Station metadata: StationXML/CSV inventories (inventory) and building StationXML from tables (build)."""
