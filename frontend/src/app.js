// Roboshop web UI: plain ES module, no build step. Every page is rendered with
// DOM calls (never innerHTML with data), so product text cannot inject markup.

const main = document.querySelector("main");
const cartCount = document.querySelector("#cart-count");
const accountLink = document.querySelector("#account-link");

// ---- tiny DOM helper ----------------------------------------------------------
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v == null) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const money = (cents) => "$" + (cents / 100).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
// Absent parts (null, false) are left out: replaceChildren would print "null".
function show(...nodes) { main.replaceChildren(...nodes.flat().filter((n) => n != null && n !== false)); main.focus(); }
// A message as a sentence: the API's messages start in lower case.
const sentence = (text) => text.charAt(0).toUpperCase() + text.slice(1);
const brands = { visa: "Visa", mastercard: "Mastercard", amex: "American Express", discover: "Discover" };
const brandName = (b) => brands[b] || sentence(b);
const loading = (what) => h("p", { class: "loading", role: "status" }, `Loading ${what}…`);
const notice = (kind, text) => h("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);

// ---- session: a guest token on the first visit, a user token after login ------
const store = {
  get guest() { return localStorage.getItem("guestToken"); },
  set guest(t) { t ? localStorage.setItem("guestToken", t) : localStorage.removeItem("guestToken"); },
  get user() { return localStorage.getItem("userToken"); },
  set user(t) { t ? localStorage.setItem("userToken", t) : localStorage.removeItem("userToken"); },
  get name() { return localStorage.getItem("userName"); },
  set name(n) { n ? localStorage.setItem("userName", n) : localStorage.removeItem("userName"); },
};

class ApiError extends Error {
  constructor(status, body) {
    super(sentence(body?.error?.message || `request failed (${status})`));
    this.status = status;
    this.code = body?.error?.code || "";
    this.fields = body?.error?.fields || {};
  }
}

async function api(path, { method = "GET", body, token, headers = {} } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers } };
  if (token) init.headers.Authorization = "Bearer " + token;
  if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  let resp;
  try { resp = await fetch("/api" + path, init); }
  catch { throw new ApiError(0, { error: { message: "The shop cannot be reached. Check your connection and try again." } }); }
  const data = resp.status === 204 ? null : await resp.json().catch(() => null);
  if (!resp.ok) {
    if (resp.status === 429) {
      const wait = resp.headers.get("Retry-After");
      const e = new ApiError(429, { error: { code: "rate_limited", message: `Too many attempts. Please wait ${wait ? wait + " seconds" : "a minute"} and try again.` } });
      // A login the account's slow lane refused may pass with proof of work (user/challenge.go).
      e.challenge = resp.headers.get("Login-Challenge") || "";
      e.challengeSalt = resp.headers.get("Login-Challenge-Salt") || "";
      e.challengeBits = Number(resp.headers.get("Login-Challenge-Bits")) || 0;
      throw e;
    }
    throw new ApiError(resp.status, data);
  }
  return data;
}

async function guestToken() {
  if (!store.guest) store.guest = (await api("/user/guest", { method: "POST" })).token;
  return store.guest;
}
// The cart's owner: the user once logged in, else the guest.
async function cartToken() { return store.user || guestToken(); }

async function cartCall(path, opts = {}) {
  try { return await api(path, { ...opts, token: await cartToken() }); }
  catch (e) {
    if (e.status !== 401) throw e;
    // An expired token: a guest starts afresh; a user logs in again.
    if (store.user) { store.user = null; store.name = null; refreshHeader(); location.hash = "#/login"; throw e; }
    store.guest = null;
    return api(path, { ...opts, token: await guestToken() });
  }
}

async function refreshHeader() {
  accountLink.textContent = store.user ? `${store.name || "Account"} · Orders` : "Log in";
  accountLink.href = store.user ? "#/orders" : "#/login";
  try {
    const cart = await cartCall("/cart/cart");
    cartCount.textContent = cart.item_count;
  } catch { cartCount.textContent = "?"; }
}

// ---- pages ---------------------------------------------------------------------
function productCard(p) {
  return h("li", { class: "card" },
    h("a", { href: `#/product/${encodeURIComponent(p.sku)}` },
      h("img", { src: `/images/products/${p.image}`, alt: "", width: 200, height: 200, loading: "lazy" }),
      h("h3", {}, p.name)),
    h("span", { class: "price" }, money(p.price_cents)),
    h("button", { type: "button", onclick: (e) => addToCart(p.sku, e.target) }, "Add to cart"));
}

async function addToCart(sku, button, qty = 1) {
  button.disabled = true;
  const old = button.textContent;
  try {
    const cart = await cartCall("/cart/cart/items", { method: "POST", body: { sku, qty } });
    cartCount.textContent = cart.item_count;
    button.textContent = "Added ✓";
  } catch (e) {
    button.textContent = e.status === 422 ? "Limit reached" : "Try again";
    button.title = e.message;
  } finally {
    setTimeout(() => { button.textContent = old; button.disabled = false; }, 1200);
  }
}

async function categories() {
  return (await api("/catalogue/categories")).items;
}

async function pageHome() {
  show(loading("the shop"));
  const [cats, featured] = await Promise.all([categories(), api("/catalogue/products?featured=true&limit=8")]);
  show(
    h("h1", {}, "Robots for every job"),
    h("ul", { class: "cats", "aria-label": "Categories" },
      cats.map((c) => h("li", {}, h("a", { href: `#/category/${c.slug}` }, c.name)))),
    h("h2", {}, "Featured"),
    h("ul", { class: "grid" }, featured.items.map(productCard)));
}

async function pageList(title, query, hashBase) {
  show(loading("products"));
  const params = new URLSearchParams(query);
  const offset = Number(params.get("offset") || 0);
  params.set("limit", "12");
  const page = await api("/catalogue/products?" + params);
  const nav = h("div", { class: "pager" });
  if (offset > 0) { const p = new URLSearchParams(params); p.set("offset", Math.max(0, offset - 12)); p.delete("limit"); nav.append(h("a", { href: `${hashBase}?${p}` }, "← Previous")); }
  nav.append(h("span", { class: "muted" }, page.total ? `${offset + 1}–${offset + page.items.length} of ${page.total}` : ""));
  if (offset + page.items.length < page.total) { const p = new URLSearchParams(params); p.set("offset", offset + 12); p.delete("limit"); nav.append(h("a", { href: `${hashBase}?${p}` }, "Next →")); }
  // Sorting starts again from the first page.
  const sort = h("select", { id: "sort", onchange: () => {
    const p = new URLSearchParams(params); p.delete("limit"); p.delete("offset");
    sort.value ? p.set("sort", sort.value) : p.delete("sort");
    location.hash = `${hashBase}?${p}`;
  } }, sortChoices.map(([value, label]) => h("option", { value, selected: (params.get("sort") || "") === value }, label)));
  show(h("h1", {}, title),
    page.items.length ? h("div", { class: "sortbar" }, h("label", { for: "sort" }, "Sort by"), sort) : null,
    page.items.length ? h("ul", { class: "grid" }, page.items.map(productCard)) : notice("info", "Nothing matches. Try another word or browse the categories."),
    nav);
}
const sortChoices = [["", "Catalogue order"], ["name", "Name (A to Z)"], ["price", "Price (low to high)"], ["-price", "Price (high to low)"]];

async function pageCategory(slug, query) {
  const cats = await categories();
  const cat = cats.find((c) => c.slug === slug);
  if (!cat) return show(h("h1", {}, "No such category"), h("a", { href: "#/" }, "Back to the shop"));
  const q = new URLSearchParams(query); q.set("category", slug);
  return pageList(cat.name, q, `#/category/${slug}`);
}

async function pageSearch(query) {
  const q = new URLSearchParams(query).get("q") || "";
  document.querySelector("#q").value = q;
  return pageList(q ? `Results for “${q}”` : "All products", query, "#/search");
}

// The most of one product a cart line holds (the cart service's limit).
const maxLineQty = 99;

async function pageProduct(sku) {
  show(loading("the product"));
  let p;
  try { p = await api("/catalogue/products/" + encodeURIComponent(sku)); }
  catch (e) { if (e.status === 404) return show(h("h1", {}, "Product not found"), h("a", { href: "#/" }, "Back to the shop")); throw e; }
  const cat = (await categories()).find((c) => c.slug === p.category);
  // What the cart takes in one line (1 to 99), and no more than is in stock.
  const most = Math.min(maxLineQty, p.stock);
  const qty = h("input", { id: "qty", type: "number", inputmode: "numeric", min: 1, max: most, value: 1, required: true });
  const buy = (e) => {
    const n = Number(qty.value);
    if (!Number.isInteger(n) || n < 1 || n > most) { alertInline(`Choose a quantity from 1 to ${most}.`); qty.setAttribute("aria-invalid", "true"); return; }
    qty.removeAttribute("aria-invalid");
    addToCart(p.sku, e.target, n);
  };
  show(h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("ol", {},
      h("li", {}, h("a", { href: "#/" }, "Home")),
      cat ? h("li", {}, h("a", { href: `#/category/${cat.slug}` }, cat.name)) : null,
      h("li", { "aria-current": "page" }, p.name))),
    h("div", { class: "product" },
    h("img", { src: `/images/products/${p.image}`, alt: p.name, width: 400, height: 400 }),
    h("div", {},
      h("h1", {}, p.name),
      h("p", { class: "price" }, money(p.price_cents)),
      h("p", {}, p.description),
      h("p", { class: "muted" }, p.stock > 0 ? `${p.stock} in stock · SKU ${p.sku}` : "Out of stock"),
      p.stock > 0 ? h("div", { class: "buy" }, h("label", { for: "qty" }, `Quantity (1 to ${most})`), qty,
        h("button", { type: "button", onclick: buy }, "Add to cart")) : null,
      h("div", { id: "inline-alert" }))));
}

async function pageCart() {
  show(loading("your cart"));
  const cart = await cartCall("/cart/cart");
  cartCount.textContent = cart.item_count;
  if (!cart.items.length) return show(h("h1", {}, "Your cart"), notice("info", "Your cart is empty."), h("a", { class: "button", href: "#/" }, "Browse robots"));
  const rows = cart.items.map((it) => {
    const qty = h("input", { type: "number", min: 0, max: 99, value: it.qty, "aria-label": `Quantity of ${it.name}` });
    const update = async () => {
      try { await cartCall(`/cart/cart/items/${encodeURIComponent(it.sku)}`, { method: "PUT", body: { qty: Number(qty.value) } }); }
      catch (e) { alertInline(e.message); }
      route();
    };
    qty.addEventListener("change", update);
    return h("tr", {},
      h("td", {}, h("a", { href: `#/product/${encodeURIComponent(it.sku)}` }, it.name)),
      h("td", { class: "num hide-sm" }, money(it.unit_price_cents)),
      h("td", {}, qty),
      h("td", { class: "num" }, money(it.line_total_cents)),
      h("td", {}, h("button", { type: "button", class: "secondary", "aria-label": `Remove ${it.name}`, onclick: async () => {
        try { await cartCall(`/cart/cart/items/${encodeURIComponent(it.sku)}`, { method: "DELETE" }); } catch (e) { alertInline(e.message); }
        route();
      } }, "Remove")));
  });
  show(h("h1", {}, "Your cart"),
    h("div", { id: "inline-alert" }),
    h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Product"), h("th", { class: "num hide-sm" }, "Price"), h("th", {}, "Qty"), h("th", { class: "num" }, "Total"), h("th", {}, ""))),
      h("tbody", {}, rows)),
    h("div", { class: "totals" },
      h("div", {}, h("span", {}, "Subtotal"), h("span", {}, money(cart.subtotal_cents))),
      h("p", { class: "muted" }, "Shipping is free from $100.00, otherwise $5.99."),
      store.user ? h("a", { class: "button", href: "#/checkout" }, "Check out")
                 : h("a", { class: "button", href: "#/login?next=checkout" }, "Log in to check out")));
}

function alertInline(text) {
  const box = document.querySelector("#inline-alert");
  if (box) box.replaceChildren(notice("error", text));
}

function fieldBlock(name, label, input) {
  input.id = name; input.name = name;
  input.setAttribute("aria-describedby", `${name}-error`);
  return h("div", {}, h("label", { for: name }, label), input, h("div", { class: "field-error", id: `${name}-error` }));
}

// showFieldErrors writes each field's message under it and marks the field
// itself (aria-invalid, drawn with a red border): "the highlighted fields".
function showFieldErrors(form, fields) {
  form.querySelectorAll(".field-error").forEach((el) => (el.textContent = ""));
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  for (const [field, msg] of Object.entries(fields)) {
    const name = field.replace(/^(card|shipping_address)\./, "");
    const el = form.querySelector(`#${CSS.escape(name)}-error`);
    if (el) el.textContent = msg;
    const input = form.querySelector(`#${CSS.escape(name)}`);
    if (input) input.setAttribute("aria-invalid", "true");
  }
}

// Device tokens, by account email: a browser that signed in to an account
// shows its token with that account's next login, and is not slowed when
// others' guesses have the account in its slow lane.
const devices = {
  get(email) { try { return JSON.parse(localStorage.getItem("devices") || "{}")[email.trim().toLowerCase()] || ""; } catch { return ""; } },
  set(email, token) {
    let all = {};
    try { all = JSON.parse(localStorage.getItem("devices") || "{}"); } catch { /* start again */ }
    all[email.trim().toLowerCase()] = token;
    localStorage.setItem("devices", JSON.stringify(all));
  },
};

// solveChallenge finds the proof a login challenge asks for: the first decimal
// counter whose SHA-256 with the challenge's salt ("salt.counter") starts with
// `bits` zero bits, as user/challenge.go checks it. Web Crypto answers each
// digest asynchronously (about 20,000 a second), too slowly for the 2^18 tries
// a challenge takes, so the page hashes itself: one block, first word only.
// It yields to the page every 65,536 tries.
async function solveChallenge(salt, bits) {
  if (!/^[0-9a-f]{1,40}$/.test(salt) || !(bits >= 1 && bits <= 30)) return null;
  for (let counter = 0; counter < 2 ** 32; counter++) {
    if (sha256FirstWord(`${salt}.${counter}`) >>> (32 - bits) === 0) return String(counter);
    if ((counter & 0xffff) === 0xffff) await new Promise((r) => setTimeout(r));
  }
  return null;
}

const sha256K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2]);
const sha256W = new Uint32Array(64);

// sha256FirstWord is the first 32 bits of SHA-256 (FIPS 180-4) of an ASCII
// text of at most 55 characters, which fits one padded block.
function sha256FirstWord(text) {
  const w = sha256W;
  w.fill(0, 0, 16);
  for (let i = 0; i < text.length; i++) w[i >> 2] |= text.charCodeAt(i) << (24 - 8 * (i & 3));
  w[text.length >> 2] |= 0x80 << (24 - 8 * (text.length & 3));
  w[15] = text.length * 8;
  for (let i = 16; i < 64; i++) {
    const x = w[i - 15], y = w[i - 2];
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  let a = 0x6a09e667, b = 0xbb67ae85, c = 0x3c6ef372, d = 0xa54ff53a;
  let e = 0x510e527f, f = 0x9b05688c, g = 0x1f83d9ab, h = 0x5be0cd19;
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + S1 + ((e & f) ^ (~e & g)) + sha256K[i] + w[i]) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
  }
  return (0x6a09e667 + a) >>> 0;
}

async function afterLogin(result, next) {
  store.user = result.token;
  store.name = result.user.name;
  if (result.device_token) devices.set(result.user.email, result.device_token);
  if (store.guest) {
    try { await api("/cart/cart/merge", { method: "POST", token: store.user, body: { guest_token: store.guest } }); } catch { /* an empty or expired guest cart is fine */ }
    store.guest = null;
  }
  await refreshHeader();
  location.hash = next === "checkout" ? "#/checkout" : "#/cart";
}

function pageLogin(query) {
  const next = new URLSearchParams(query).get("next") || "";
  const authForm = (kind) => {
    const status = h("div", { role: "status" });
    const inputs = kind === "register"
      ? [fieldBlock("name", "Name", h("input", { autocomplete: "name", required: true })),
         fieldBlock("email", "Email", h("input", { type: "email", autocomplete: "email", required: true })),
         fieldBlock("password", "Password (8 or more characters)", h("input", { type: "password", autocomplete: "new-password", required: true, minlength: 8 }))]
      : [fieldBlock("email", "Email", h("input", { type: "email", autocomplete: "username", required: true })),
         fieldBlock("password", "Password", h("input", { type: "password", autocomplete: "current-password", required: true }))];
    const form = h("form", { class: "panel", id: `${kind}-form`, novalidate: true }, h("h2", {}, kind === "register" ? "New here? Create an account" : "Log in"), status, inputs,
      h("p", {}, h("button", { type: "submit" }, kind === "register" ? "Create account" : "Log in")));
    // Field ids must be unique on the page: prefix them per form.
    form.querySelectorAll("input").forEach((i) => { i.id = `${kind}-${i.name}`; });
    form.querySelectorAll("label").forEach((l) => l.setAttribute("for", `${kind}-${l.getAttribute("for")}`));
    form.querySelectorAll(".field-error").forEach((d) => { d.id = `${kind}-${d.id}`; });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const button = form.querySelector("button");
      button.disabled = true;
      const body = Object.fromEntries(new FormData(form));
      if (kind === "login" && devices.get(body.email || "")) body.device_token = devices.get(body.email);
      try {
        let result;
        try { result = await api(`/user/${kind}`, { method: "POST", body }); }
        catch (err) {
          if (kind !== "login" || !err.challenge) throw err;
          // Many guesses at this account: prove this browser did some work, once.
          status.replaceChildren(notice("info", "This account is receiving many login attempts. Checking this browser (a few seconds)…"));
          const proof = await solveChallenge(err.challengeSalt, err.challengeBits);
          if (proof === null) throw err;
          result = await api(`/user/${kind}`, { method: "POST", body: { ...body, challenge: err.challenge, proof } });
        }
        await afterLogin(result, next);
      } catch (err) {
        status.replaceChildren(notice("error", err.status === 409 ? "An account with this email exists already: log in instead." : err.message));
        for (const [f, m] of Object.entries(err.fields)) { const el = form.querySelector(`#${kind}-${f}-error`); if (el) el.textContent = m; }
      } finally { button.disabled = false; }
    });
    return form;
  };
  show(h("h1", {}, "Your account"),
    next === "checkout" ? notice("info", "Log in or create an account to check out. Your cart comes with you.") : null,
    h("div", { class: "two" }, authForm("login"), authForm("register")),
    demoHint());
}

// demoHint names the demo account where the shop seeds one (GET /user/demo)
// and stays hidden where it does not.
function demoHint() {
  const hint = h("p", { class: "muted", id: "demo-hint", hidden: true });
  api("/user/demo").then((demo) => {
    hint.textContent = `Just looking? The demo account is ${demo.email} / ${demo.password}.`;
    hint.hidden = false;
  }).catch(() => {});
  return hint;
}

async function pageCheckout() {
  if (!store.user) { location.hash = "#/login?next=checkout"; return; }
  show(loading("checkout"));
  // The quote is priced by payment exactly as the checkout will be; the shopper
  // pays the total shown here or is asked again (409 price_changed).
  let quote;
  try { quote = await api("/payment/checkout/quote", { token: store.user }); }
  catch (err) {
    if (err.code === "cart_empty") return show(h("h1", {}, "Checkout"), notice("info", "Your cart is empty."), h("a", { class: "button", href: "#/" }, "Browse robots"));
    throw err;
  }
  const year = new Date().getFullYear();
  const status = h("div", { role: "status", "aria-live": "polite" });
  const payButton = h("button", { type: "submit" }, `Pay ${money(quote.total_cents)}`);
  const summary = h("div", {}, orderSummary(quote.items, quote.subtotal_cents, quote.shipping_cents, quote.total_cents));
  const form = h("form", { class: "panel", id: "checkout-form", novalidate: true },
    status,
    h("h2", {}, "Shipping address"),
    fieldBlock("name", "Full name", h("input", { autocomplete: "name", required: true, value: store.name || "" })),
    fieldBlock("line1", "Address", h("input", { autocomplete: "address-line1", required: true })),
    fieldBlock("line2", "Address line 2 (optional)", h("input", { autocomplete: "address-line2" })),
    h("div", { class: "row" },
      fieldBlock("city", "City", h("input", { autocomplete: "address-level2", required: true })),
      fieldBlock("postal_code", "Postal code", h("input", { autocomplete: "postal-code", required: true }))),
    fieldBlock("country", "Country (two letters)", h("input", { autocomplete: "country", required: true, maxlength: 2, value: "US" })),
    h("h2", {}, "Card"),
    h("p", { class: "muted" }, "Test cards: 4242 4242 4242 4242 is approved, 4000 0000 0000 0002 is declined."),
    fieldBlock("holder", "Name on card", h("input", { autocomplete: "cc-name", required: true })),
    fieldBlock("number", "Card number", h("input", { autocomplete: "cc-number", inputmode: "numeric", required: true })),
    h("div", { class: "row" },
      fieldBlock("exp_month", "Month", h("select", { autocomplete: "cc-exp-month" }, h("option", { value: "" }, "Choose a month"),
        Array.from({ length: 12 }, (_, i) => h("option", { value: i + 1 }, String(i + 1).padStart(2, "0"))))),
      fieldBlock("exp_year", "Year", h("select", { autocomplete: "cc-exp-year" }, h("option", { value: "" }, "Choose a year"),
        Array.from({ length: 12 }, (_, i) => h("option", { value: year + i }, year + i)))),
      fieldBlock("cvc", "CVC", h("input", { autocomplete: "cc-csc", inputmode: "numeric", required: true, maxlength: 4 }))),
    h("p", {}, payButton));
  // One key per attempt: a retry of the same attempt (network failure) reuses it,
  // so the shop never charges twice; a changed form or total gets a new one.
  let key = crypto.randomUUID();
  form.addEventListener("input", () => { key = crypto.randomUUID(); });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    payButton.disabled = true;
    status.replaceChildren(notice("info", "Processing your payment…"));
    const v = (id) => form.querySelector("#" + id).value.trim();
    const body = {
      card: { number: v("number"), exp_month: Number(v("exp_month")), exp_year: Number(v("exp_year")), cvc: v("cvc"), holder: v("holder") },
      shipping_address: { name: v("name"), line1: v("line1"), line2: v("line2"), city: v("city"), postal_code: v("postal_code"), country: v("country") },
      expected_total_cents: quote.total_cents,
    };
    try {
      const res = await api("/payment/checkout", { method: "POST", token: store.user, body, headers: { "Idempotency-Key": key } });
      await refreshHeader();
      location.hash = `#/order/${res.order.id}?new=1`;
    } catch (err) {
      showFieldErrors(form, err.fields);
      if (err.code === "price_changed") {
        // Nothing was charged: show the new total and let the shopper confirm it.
        const was = quote.total_cents;
        try { quote = await api("/payment/checkout/quote", { token: store.user }); } catch { /* the notice below still stands */ }
        summary.replaceChildren(orderSummary(quote.items, quote.subtotal_cents, quote.shipping_cents, quote.total_cents));
        payButton.textContent = `Pay ${money(quote.total_cents)}`;
        status.replaceChildren(notice("error", `The total changed from ${money(was)} to ${money(quote.total_cents)} (a price or your cart changed). Nothing was charged. Check the summary and pay again.`));
        key = crypto.randomUUID();
        return;
      }
      const text = err.status === 402 ? "Your card was declined. No money was taken. Try another card."
        : err.code === "checkout_in_progress" ? "This cart is already being paid for (in another tab?). Check your orders before trying again."
        : err.status === 422 && Object.keys(err.fields).length ? "Please fix the highlighted fields."
        : err.message;
      status.replaceChildren(notice("error", text));
      if (err.status === 402 || err.status === 422) key = crypto.randomUUID();
    } finally { payButton.disabled = false; }
  });
  show(h("h1", {}, "Checkout"), h("div", { class: "two" }, form, summary));
}

// cityLine is the city and postal code in the order the address's country
// writes them: the postal code first in most of continental Europe, after
// the city elsewhere (the US, the UK, Canada, ...).
const postalCodeFirst = new Set(["AT", "BE", "CH", "DE", "DK", "ES", "FI", "FR", "IT", "NL", "NO", "PL", "PT", "SE"]);
function cityLine(a) {
  return postalCodeFirst.has((a.country || "").toUpperCase()) ? `${a.postal_code} ${a.city}` : `${a.city} ${a.postal_code}`;
}

function orderSummary(items, subtotal, shipping, total) {
  return h("div", { class: "panel" }, h("h2", {}, "Summary"),
    h("table", {}, h("tbody", {}, items.map((it) => h("tr", {}, h("td", {}, `${it.qty} × ${it.name}`), h("td", { class: "num" }, money(it.line_total_cents)))))),
    h("div", { class: "totals" },
      h("div", {}, h("span", {}, "Subtotal"), h("span", {}, money(subtotal))),
      h("div", {}, h("span", {}, "Shipping"), h("span", {}, shipping ? money(shipping) : "Free")),
      h("div", { class: "grand" }, h("span", {}, "Total"), h("span", {}, money(total)))));
}

async function pageOrder(id, query) {
  if (!store.user) { location.hash = "#/login"; return; }
  show(loading("your order"));
  let o;
  try { o = (await api("/payment/orders/" + encodeURIComponent(id), { token: store.user })).order; }
  catch (e) { if (e.status === 404) return show(h("h1", {}, "Order not found")); throw e; }
  const fresh = new URLSearchParams(query).has("new");
  const a = o.shipping_address;
  show(h("h1", {}, fresh ? "Thank you! Your order is confirmed." : `Order ${o.id}`),
    fresh ? notice("ok", `Order ${o.id} is paid. We will ship it to ${a.name}.`) : null,
    h("div", { class: "two" },
      orderSummary(o.items, o.subtotal_cents, o.shipping_cents, o.total_cents),
      h("div", { class: "panel" }, h("h2", {}, "Details"),
        h("p", {}, `Placed ${new Date(o.created_at).toLocaleString()}`),
        h("p", {}, "Status: ", h("strong", { class: "status" }, sentence(o.status))),
        h("p", {}, `Paid with ${brandName(o.payment.brand)} ending ${o.payment.last4}`),
        h("p", {}, a.name, h("br"), a.line1, a.line2 ? [h("br"), a.line2] : null, h("br"), cityLine(a), h("br"), a.country))),
    h("p", {}, h("a", { href: "#/orders" }, "All your orders")));
}

async function pageOrders() {
  if (!store.user) { location.hash = "#/login"; return; }
  show(loading("your orders"));
  const list = await api("/payment/orders?limit=20", { token: store.user });
  const logout = h("button", { type: "button", class: "secondary", onclick: () => { store.user = null; store.name = null; refreshHeader(); location.hash = "#/"; } }, "Log out");
  if (!list.items.length) return show(h("h1", {}, "Your orders"), notice("info", "No orders yet."), logout);
  show(h("h1", {}, "Your orders"),
    h("table", { id: "orders" }, h("thead", {}, h("tr", {}, h("th", {}, "Order"), h("th", { class: "hide-sm" }, "Date"), h("th", {}, "Items"), h("th", {}, "Status"), h("th", { class: "num" }, "Total"))),
      h("tbody", {}, list.items.map((o) => h("tr", {},
        h("td", {}, h("a", { href: `#/order/${o.id}` }, o.id)),
        h("td", { class: "hide-sm" }, new Date(o.created_at).toLocaleDateString()),
        h("td", {}, o.items.reduce((n, it) => n + it.qty, 0)),
        h("td", { class: "status" }, sentence(o.status)),
        h("td", { class: "num" }, money(o.total_cents)))))),
    h("p", {}, logout));
}

// ---- routing -------------------------------------------------------------------
async function route() {
  const [path, query = ""] = location.hash.slice(1).split("?");
  const parts = (path || "/").split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] !== "search") document.querySelector("#q").value = "";
  try {
    switch (parts[0]) {
      case undefined: await pageHome(); break;
      case "category": await pageCategory(parts[1], query); break;
      case "search": await pageSearch(query); break;
      case "product": await pageProduct(parts[1]); break;
      case "cart": await pageCart(); break;
      case "login": pageLogin(query); break;
      case "checkout": await pageCheckout(); break;
      case "order": await pageOrder(parts[1], query); break;
      case "orders": await pageOrders(); break;
      default: show(h("h1", {}, "Page not found"), h("a", { href: "#/" }, "Back to the shop"));
    }
  } catch (e) {
    show(h("h1", {}, "Something went wrong"), notice("error", e.message), h("button", { type: "button", onclick: route }, "Try again"));
  }
}

document.querySelector("#search-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const q = document.querySelector("#q").value.trim();
  location.hash = "#/search?" + new URLSearchParams(q ? { q } : {});
});
window.addEventListener("hashchange", route);
refreshHeader();
route();
