package DdbmExample;

# The declared schema and routes of nginx.conf.example, for whatever runs
# them outside that file (the suites, bench/run.sh, bench/soak.sh): the
# schema's text (between "# ---- BEGIN schema" and "# ---- END schema"),
# its table renamed, and each route (between "# ---- BEGIN route NAME" and
# "# ---- END route NAME").  From Perl:
#
#   my $text = DdbmExample::schema('my_table');
#   my %route = DdbmExample::routes();
#
# from a shell:
#
#   perl t/lib/DdbmExample.pm schema my_table
#   perl t/lib/DdbmExample.pm route list_messages

use strict;
use warnings;

use File::Basename ();
use File::Spec ();

my $example = File::Spec->catfile(File::Basename::dirname(__FILE__),
                                  '..', '..', 'nginx.conf.example');

sub text () {
    open my $f, '<', $example or die "$example: $!";
    local $/;
    return scalar <$f>;
}

sub schema ($) {
    my ($table) = @_;
    my ($schema) = text() =~ /^[ \t]*# ---- BEGIN schema[^\n]*\n(.*?)^[ \t]*# ---- END schema/ms
        or die "$example: no schema between its markers";
    $schema =~ s/^(\s*ddbm_schema\s+\S+\s+)cruddur-messages\b/$1$table/m
        or die "$example: no ddbm_schema of cruddur-messages";
    return $schema;
}

sub routes () {
    my (%route, $text);
    $text = text();
    while ($text =~ /^[ \t]*# ---- BEGIN route (\w+)\n(.*?)^[ \t]*# ---- END route \1\n/msg) {
        $route{$1} = $2;
    }
    die "$example: no declared route" if !%route;
    return %route;
}

if (!caller) {
    my ($what, $arg) = @ARGV;
    if (($what // '') eq 'schema' && defined $arg) {
        print schema($arg);
    } elsif (($what // '') eq 'route' && defined $arg) {
        my %route = routes();
        die "$example: no route \"$arg\"\n" if !defined $route{$arg};
        print $route{$arg};
    } else {
        die "usage: perl $0 schema TABLE | route NAME\n";
    }
}

1;
