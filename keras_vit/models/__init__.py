"""Model families. Importing a family registers its named variants."""
from . import vit  # noqa: F401  (first: DeiT builds on it)
from . import deit  # noqa: F401
from . import mobilevit  # noqa: F401
from . import mobilevitv2  # noqa: F401  (after mobilevit: it reuses its blocks)
from . import swin  # noqa: F401
from . import pvt_v2  # noqa: F401
from . import pvt  # noqa: F401
from . import cct  # noqa: F401
from . import t2t_vit  # noqa: F401
from . import cvt  # noqa: F401
from . import dat  # noqa: F401
from . import beit  # noqa: F401
from . import fastvit  # noqa: F401
from . import efficientvit  # noqa: F401
from .. import optimizers  # noqa: F401  (the training AdamW, for .keras files with their optimizer)
