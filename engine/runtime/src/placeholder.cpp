#include "mnemo/core/tensor.h"
