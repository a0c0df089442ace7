# apache2 with mpm_prefork (a process per connection, spawned gradually from
# 5), natively and under the shim, where each child process starts its own
# runtime after fork: 50 held connections, ab -n 5000 -c 50, checksummed
# downloads, clean stop.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/http_common.sh"
d_need apache2 ab curl
APACHE_MPM=prefork
APACHE_MPM_CONF='StartServers 5
MinSpareServers 5
MaxSpareServers 10
MaxRequestWorkers 150'
# Children come at most 32 a second: wait longer for the count to settle.
H_SETTLE_SAMPLES=8
source "$(dirname "$0")/apache_common.sh"
