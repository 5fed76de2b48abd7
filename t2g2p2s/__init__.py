__version__ = "0.1.0"

import os as _os

# pyarrow's default allocator (mimalloc) keeps the pages it used for the threads that read and write parquet: the
# coordinating process of a 1/8 rehearsal lexicon build peaked at 250 MB with it and at 218 MB with the C heap's
# allocator (bench/corpus.py), which `lexicon_build.release_free_memory` can hand back. pyarrow reads this variable
# once, when it is first imported, so it is set here, before this package imports pandas; a value the user has set
# is kept. (Where pyarrow was imported first, `lexicon_build.arrow_on_c_heap` moves its Python-level pool.)
_os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
