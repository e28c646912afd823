<?php
// The PHP app of TestEdDSAEndToEnd (integration/eddsa_test.go), run by
// php -S: it verifies X-Sidecar-Session with the PHP kit given only
// Sidecar's JWKS URL, no secret. Environment: APP_NAME, SIDECAR_JWKS_URL,
// APP_JWKS_CACHE (the kit's cache file), APP_FETCH_LOG (a line per JWKS
// fetch), APP_GATES (the directory of /hold's gate files).
//   /whoami          the verified session: {server, kid, sub, data}
//   /login?user=U    sets principal U and data {"user": U}, regenerates
//   /hold?gate=G     writes G.arrived, waits for G.release, then verifies
// An invalid header is 401 {server, reason}.
declare(strict_types=1);

require __DIR__ . '/../../../clients/php/Sidecar.php';

$name = (string)getenv('APP_NAME');
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
header('Content-Type: text/plain; charset=utf-8'); // JSON, which the test's client keeps as the body

if ($path === '/hold') { // the token is verified only once the test releases the gate
    $gate = getenv('APP_GATES') . '/' . basename((string)($_GET['gate'] ?? 'none'));
    file_put_contents("$gate.arrived", $name);
    for ($i = 0; $i < 3000 && !file_exists("$gate.release"); $i++) {
        usleep(10000);
    }
}

$log = (string)getenv('APP_FETCH_LOG');
$sc = new Sidecar\Sidecar([
    'jwksUrl' => (string)getenv('SIDECAR_JWKS_URL'),
    'jwksCacheFile' => (string)getenv('APP_JWKS_CACHE'),
    'fetch' => static function (string $url, float $timeout) use ($log): string {
        file_put_contents($log, "fetch\n", FILE_APPEND | LOCK_EX);
        return Sidecar\Sidecar::httpGet($url, $timeout);
    },
]);
try {
    $s = $sc->start();
} catch (Sidecar\InvalidSession $e) {
    http_response_code(401);
    echo json_encode(['server' => $name, 'reason' => $e->reason]);
    return true;
}
if ($path === '/login') {
    $user = (string)($_GET['user'] ?? '');
    $s->setPrincipal($user);
    $s->set('user', $user);
    $s->regenerate();
}
$head = json_decode(base64_decode(strtr(explode('.', $_SERVER['HTTP_X_SIDECAR_SESSION'])[0], '-_', '+/')), true);
echo json_encode(['server' => $name, 'kid' => $head['kid'] ?? null, 'sub' => $s->principal(), 'data' => (object)$s->all()]);
return true;
