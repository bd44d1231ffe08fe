"""Static HTML over a run folder's records: the gallery of one run and the site of an atlas. Plain Python."""
