# expect: runtime_error
# test: assert done()
import resource
resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
def done():
    return True
