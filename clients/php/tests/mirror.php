<?php
/**
 * The CFML drift guard. No CFML engine runs in CI, so clients/cfml/*.cfc
 * are kept function for function identical to the classes of Sidecar.php
 * (the vectors run against the PHP code) and this file checks, cheaply, that
 * they have not drifted apart:
 *  - each class and its component declare the same functions in the same
 *    order and with the same visibility (init <-> __construct), apart from a
 *    fixed list of CFML-only helpers for what PHP has built in;
 *  - Sidecar.cfc throws the same reason codes in the same order as
 *    Sidecar.php (the order of the checks), and lists the same REASONS;
 *  - every PHP exception class has its CFML error type "Sidecar.<Name>".
 * CFLint (go test ./clients -run TestCFLint) checks the CFML parses.
 * Required by run.php.
 */

declare(strict_types=1);

/**
 * The functions of each class of a PHP file, in order, as "public name" / "private name".
 * @return array<string, list<string>>
 */
function phpFunctions(string $file): array
{
    $tokens = token_get_all((string)file_get_contents($file));
    $out = [];
    $class = null;
    $visibility = 'public';
    foreach ($tokens as $i => $t) {
        if (!is_array($t)) {
            continue;
        }
        if ($t[0] === T_CLASS && !(is_array($tokens[$i - 1]) && $tokens[$i - 1][0] === T_DOUBLE_COLON)) {
            $class = nextName($tokens, $i);
            $out[$class] = [];
        } elseif (in_array($t[0], [T_PUBLIC, T_PRIVATE, T_PROTECTED], true)) {
            $visibility = strtolower($t[1]);
        } elseif ($t[0] === T_FUNCTION && $class !== null) {
            $name = nextName($tokens, $i);
            if ($name !== null) { // not a closure
                $out[$class][] = ($visibility === 'public' ? 'public ' : 'private ') . ($name === '__construct' ? 'init' : $name);
            }
            $visibility = 'public';
        } elseif ($t[0] === T_VARIABLE) {
            $visibility = 'public'; // a property or a promoted parameter took it
        }
    }
    return $out;
}

/** The next T_STRING after token $i, skipping white space and "&" (null when another token comes first). */
function nextName(array $tokens, int $i): ?string
{
    for ($j = $i + 1; $j < count($tokens); $j++) {
        $t = $tokens[$j];
        if (is_array($t) && $t[0] === T_WHITESPACE || $t === '&') {
            continue;
        }
        return is_array($t) && $t[0] === T_STRING ? $t[1] : null;
    }
    return null;
}

/**
 * The functions of a CFC, in order, as "public name" / "private name".
 * @return list<string>
 */
function cfcFunctions(string $file): array
{
    preg_match_all('/^\s*(public|private|package|remote)\s+[\w.]+\s+function\s+(\w+)\s*\(/m', (string)file_get_contents($file), $m, PREG_SET_ORDER);
    return array_map(static fn (array $x): string => ($x[1] === 'public' ? 'public ' : 'private ') . $x[2], $m);
}

$php = __DIR__ . '/../Sidecar.php';
$cfml = __DIR__ . '/../../cfml';
// CFML-only helpers: what PHP's runtime has built in (json_encode, -INF, ms
// rounding in place, exceptions with properties, type checks, microtime, and
// null: deleted() is the JSON null CFML structs cannot portably hold).
$cfmlOnly = [
    'Sidecar' => ['private isJsonString', 'private isJsonBoolean', 'private hexByte', 'private wallClock', 'private invalidSession'],
    'Session' => ['private encodeNumber', 'private encodeString', 'public deleted', 'private isDeleted', 'private isJsonObject'],
    'Locks' => ['private msOf', 'private jsonBody'],
    'Lease' => [],
];
$pairs = ['Sidecar' => 'Sidecar.cfc', 'Session' => 'SidecarSession.cfc', 'Locks' => 'SidecarLocks.cfc', 'Lease' => 'SidecarLease.cfc'];

T::run('mirror: every CFC declares its PHP class\'s functions in the same order', static function () use ($php, $cfml, $pairs, $cfmlOnly): void {
    $classes = phpFunctions($php);
    foreach ($pairs as $class => $cfc) {
        T::ok(isset($classes[$class]), "class $class in Sidecar.php");
        T::ok(is_file("$cfml/$cfc"), "$cfc exists");
        $theirs = cfcFunctions("$cfml/$cfc");
        foreach ($cfmlOnly[$class] as $extra) {
            T::ok(in_array($extra, $theirs, true), "$cfc still has its CFML-only helper $extra (else drop it from the list)");
        }
        T::eq($classes[$class], array_values(array_diff($theirs, $cfmlOnly[$class])), "$cfc vs class $class");
    }
});

T::run('mirror: Sidecar.cfc checks the reasons in the order Sidecar.php does', static function () use ($php, $cfml): void {
    $phpSrc = (string)file_get_contents($php);
    $cfmlSrc = (string)file_get_contents("$cfml/Sidecar.cfc");
    preg_match_all("/new InvalidSession\\('(\\w+)'/", $phpSrc, $p);
    preg_match_all('/invalidSession\("(\w+)"/', $cfmlSrc, $c);
    T::ok(count($p[1]) >= 10, 'found the PHP throw sites');
    T::eq($p[1], $c[1], 'reason codes at the throw sites, in order');
    preg_match('/variables\.REASONS\s*=\s*\[([^\]]*)\]/', $cfmlSrc, $list);
    preg_match_all('/"(\w+)"/', $list[1] ?? '', $names);
    T::eq(Sidecar\Sidecar::REASONS, $names[1], 'REASONS');
    foreach (Sidecar\Sidecar::REASONS as $reason) {
        T::ok(in_array($reason, $p[1], true) || $reason === 'missing' && in_array('missing', $p[1], true), "PHP throws $reason");
    }
});

T::run('mirror: every PHP exception class has its CFML error type', static function () use ($php, $cfml): void {
    $all = implode("\n", array_map('file_get_contents', glob("$cfml/*.cfc")));
    preg_match_all('/^(?:final )?class (\w+) extends \\\\?(\w+)/m', (string)file_get_contents($php), $m);
    T::ok(count($m[1]) >= 6, 'found the exception classes');
    foreach ($m[1] as $class) {
        T::ok(str_contains($all, "\"Sidecar.$class\""), "CFML throws type \"Sidecar.$class\"");
    }
});
