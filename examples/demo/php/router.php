<?php
// The demo shop in PHP, as the router script of PHP's built-in server:
//   DEMO_SERVER_NAME=app1 SIDECAR_HEADERS__SECRET=... php -S 127.0.0.1:8081 examples/demo/php/router.php
// Every page reads the session through the PHP kit (clients/php); logins,
// cart changes and logouts write it back through Sidecar's headers.
declare(strict_types=1);

require __DIR__ . '/../../../clients/php/Sidecar.php';

$shop = json_decode(file_get_contents(__DIR__ . '/../shop.json'), true, 16, JSON_THROW_ON_ERROR);
$server = getenv('DEMO_SERVER_NAME') ?: 'php';

// The header secret, or a JWKS URL for EdDSA/ES256 (then no secret at all).
$options = array_filter([
    'secret' => getenv('SIDECAR_HEADERS__SECRET') ?: null,
    'jwksUrl' => getenv('SIDECAR_JWKS_URL') ?: null,
]);
if ($options === []) {
    // Under php-fpm, clear_env (on by default) empties the environment:
    // pass the variable with env[...] in the pool (docs/apps.md).
    http_response_code(500);
    header('Content-Type: text/plain; charset=utf-8');
    echo "SIDECAR_HEADERS__SECRET is not set (php-fpm: clear_env, see docs/apps.md)\n";
    return true;
}

try {
    $s = (new Sidecar\Sidecar($options))->start();
} catch (Sidecar\InvalidSession $e) {
    error_log('X-Sidecar-Session refused: ' . $e->reason); // the reason, never the token
    http_response_code(500);
    echo "This page must be reached through Sidecar.\n";
    return true;
}

$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
$posted = $_SERVER['REQUEST_METHOD'] === 'POST';

// A form posted with the cookie a login has just replaced: write nothing
// (Sidecar would answer 409) and let the browser repeat it with the new one.
if ($posted && ($s->claims()['replaced'] ?? false)) {
    see_other($path);
    return true;
}

switch ($path) {
    case '/':
        page($s, 'Products', products_html($shop));
        break;

    case '/login':
        if (!$posted) {
            page($s, 'Log in', login_html(''));
            break;
        }
        $user = find_user($shop, (string)($_POST['user'] ?? ''), (string)($_POST['password'] ?? ''));
        if ($user === null) {
            http_response_code(401);
            page($s, 'Log in', login_html('Wrong user name or password.'));
            break;
        }
        $s->setPrincipal($user['login']);
        $s->set('user', ['login' => $user['login'], 'name' => $user['name']]);
        $s->regenerate(); // a new cookie after login: no session fixation
        see_other('/');
        break;

    case '/cart':
        if ($posted) {
            $sku = (string)($_POST['sku'] ?? '');
            $cart = $s->get('cart', []);
            $count = ($cart[$sku] ?? 0) + (($_POST['op'] ?? '') === 'remove' ? -1 : 1);
            if (product($shop, $sku) !== null) {
                // merge(): only this SKU changes (null deletes it), so two tabs adding
                // different products at once both count; set() would replace the cart.
                $s->merge('cart', [$sku => $count > 0 ? $count : null]);
            }
            see_other('/cart');
            break;
        }
        page($s, 'Cart', cart_html($shop, $s->get('cart', [])));
        break;

    case '/logout':
        if ($posted) {
            $s->destroy();
        }
        see_other('/');
        break;

    default:
        http_response_code(404);
        page($s, 'Not found', '<p>No such page.</p>');
}
return true;

function see_other(string $to): void
{
    http_response_code(303);
    header('Location: ' . $to);
}

function h(string $s): string
{
    return htmlspecialchars($s, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8');
}

function money(array $shop, int $cents): string
{
    return h($shop['currency']) . number_format($cents / 100, 2);
}

function product(array $shop, string $sku): ?array
{
    foreach ($shop['products'] as $p) {
        if ($p['sku'] === $sku) {
            return $p;
        }
    }
    return null;
}

function find_user(array $shop, string $login, string $password): ?array
{
    foreach ($shop['users'] as $u) {
        if (hash_equals($u['login'], $login) && hash_equals($u['password'], $password)) {
            return $u;
        }
    }
    return null;
}

function page(Sidecar\Session $s, string $title, string $main): void
{
    header('Content-Type: text/html; charset=utf-8');
    $user = $s->get('user');
    $who = $user === null
        ? '<span id="who">Not logged in</span> · <a id="login-link" href="/login">Log in</a>'
        : '<span id="who">Logged in as <b>' . h($user['name']) . '</b> (' . h($user['login']) . ')</span>'
          . ' <form class="inline" method="post" action="/logout"><button id="logout">Log out</button></form>';
    $items = array_sum($s->get('cart', []));
    echo '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>', h($title), ' · Sidecar shop</title>',
        '<style>body{font:16px system-ui,sans-serif;max-width:42em;margin:2em auto}form.inline{display:inline}',
        'footer{margin-top:2em;color:#666;font-size:.9em}td,th{padding:.2em .8em;text-align:left}</style></head><body>',
        '<header><a href="/">Sidecar shop</a> · <a id="cart-link" href="/cart">Cart (', $items, ')</a> · ', $who, '</header>',
        '<h1>', h($title), '</h1>', $main,
        '<footer>Answered by <b id="server">', h($GLOBALS['server']), '</b> (PHP) · session <code id="sid">',
        h($s->sid() ?: 'none'), '</code> · version <span id="ver">', (int)$s->version(), '</span></footer></body></html>';
}

function products_html(array $shop): string
{
    $rows = '';
    foreach ($shop['products'] as $p) {
        $rows .= '<tr><td>' . h($p['name']) . '</td><td>' . money($shop, $p['price_cents']) . '</td><td>'
            . '<form method="post" action="/cart"><input type="hidden" name="sku" value="' . h($p['sku']) . '">'
            . '<button id="add-' . h($p['sku']) . '">Add to cart</button></form></td></tr>';
    }
    return '<table id="products">' . $rows . '</table>';
}

function cart_html(array $shop, array $cart): string
{
    $rows = '';
    $total = 0;
    foreach ($cart as $sku => $count) {
        $p = product($shop, (string)$sku);
        if ($p === null) {
            continue;
        }
        $total += $count * $p['price_cents'];
        $rows .= '<li data-sku="' . h($p['sku']) . '" data-count="' . (int)$count . '">' . h($p['name']) . ' × ' . (int)$count
            . ' <form class="inline" method="post" action="/cart"><input type="hidden" name="sku" value="' . h($p['sku']) . '">'
            . '<input type="hidden" name="op" value="remove"><button id="remove-' . h($p['sku']) . '">Remove one</button></form></li>';
    }
    if ($rows === '') {
        return '<p id="empty">Your cart is empty.</p>';
    }
    return '<ul id="cart">' . $rows . '</ul><p>Total: <span id="total">' . money($shop, $total) . '</span></p>';
}

function login_html(string $error): string
{
    return ($error === '' ? '' : '<p id="error">' . h($error) . '</p>')
        . '<form id="login" method="post" action="/login">'
        . '<p><label>User <input name="user" autocomplete="username"></label></p>'
        . '<p><label>Password <input name="password" type="password" autocomplete="current-password"></label></p>'
        . '<p><button id="login-button">Log in</button></p></form>'
        . '<p>Demo users: alice / wonderland, bob / builder, zoë / brûlée.</p>';
}
