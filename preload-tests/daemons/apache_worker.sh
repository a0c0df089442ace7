# apache2 with mpm_worker (processes x thread pools: 2 processes of 25
# worker threads, plus a listener thread each), natively and under the shim,
# where each process's pool becomes coroutines: 50 held connections,
# ab -n 5000 -c 50, checksummed downloads, clean stop.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_common.sh"
d_need apache2 ab curl
APACHE_MPM=worker
APACHE_MPM_CONF='StartServers 2
ThreadsPerChild 25
MinSpareThreads 25
MaxSpareThreads 75'
# Apache adds processes once a second when spare threads run low.
H_SETTLE_SAMPLES=8
source "$(dirname "$0")/apache_common.sh"
