// Empty: the target exists for its header (include/clinuxevents.h).
#include "clinuxevents.h"
