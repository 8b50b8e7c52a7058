# The app's server: it says where it runs, reads the port floor, binds $PORT and
# answers HTTP until it is stopped.
use IO::Socket::INET;
$| = 1;
print "workspace {{id}} as uid $<\n";
if (open(my $f, "<", "/proc/sys/net/ipv4/ip_unprivileged_port_start")) {
    print "net.ipv4.ip_unprivileged_port_start = ", scalar <$f>;
}
my $s = IO::Socket::INET->new(LocalPort => $ENV{PORT}, Listen => 5, ReuseAddr => 1)
    or die "bind to port $ENV{PORT} failed: $!\n";
print "bound port ", $s->sockport, "\n";
while (my $c = $s->accept) {
    print $c "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello from uid $<\n";
    close $c;
}
