"""Capture readers: pcap, pcapng (gzip, directories, standard input) into packet batches."""
