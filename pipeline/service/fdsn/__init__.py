"""FDSN web services (fdsnws-event 1.2, fdsnws-station 1.1, fdsnws-dataselect 1.1), one router each."""
