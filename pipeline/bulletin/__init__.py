"""Bulletins: reading (normalised to our unit conventions) and writing (QuakeML, IMS1.0)."""
