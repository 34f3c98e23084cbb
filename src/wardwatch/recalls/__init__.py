"""FDA device recalls: importing openFDA files, reading identifiers from their text, matching devices."""
