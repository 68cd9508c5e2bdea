import os

# numpy's OpenBLAS would start a spinning thread per core at import; the gateway's largest
# product is a 16x384 rescoring, and a spinning thread takes the event loop's core.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
