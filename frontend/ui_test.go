package frontend

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/roboshop-go/roboshop/testkit"
)

// TestUIDetailsAtDesktopAndPhoneWidths walks the pages a shopper sees at
// 1280 and 390 px wide and checks the details that go wrong unseen: no page
// wider than the screen, cards' buttons level across a row, no sort bar over
// nothing, the quantity the cart accepts, invalid fields marked where the
// page says "highlighted", the card's expiry prompts, and a US address with
// the city before the postal code. Each step leaves a screenshot.
func TestUIDetailsAtDesktopAndPhoneWidths(t *testing.T) {
	t.Parallel()
	for _, width := range []int64{1280, 390} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			b := newBrowser(t)
			shot := func(name string) { b.screenshot(fmt.Sprintf("%d-%s", width, name)) }
			fits := func(page string) {
				t.Helper()
				var over int
				b.run("width of "+page, chromedp.Evaluate(`document.documentElement.scrollWidth - window.innerWidth`, &over))
				if over > 0 {
					t.Errorf("%d px: the %s page is %d px wider than the screen", width, page, over)
				}
			}
			b.run("viewport", chromedp.EmulateViewport(width, 900))

			b.run("category", chromedp.Navigate(b.base+"/#/category/parts"), waitText("h1", "Parts"),
				chromedp.WaitVisible(".grid .card", chromedp.ByQuery))
			// Cards in one row (same top) have their buttons at one height, however their names wrap.
			var uneven []string
			b.run("buttons level", chromedp.Evaluate(`(() => {
				const rows = {};
				for (const card of document.querySelectorAll(".grid .card")) {
					const top = Math.round(card.getBoundingClientRect().top);
					(rows[top] ||= []).push(Math.round(card.querySelector("button").getBoundingClientRect().top));
				}
				return Object.entries(rows).filter(([, tops]) => new Set(tops).size > 1).map(([row, tops]) => row + ": " + tops.join(","));
			})()`, &uneven))
			if len(uneven) > 0 {
				t.Errorf("%d px: card buttons not level in rows %v", width, uneven)
			}
			fits("category")
			shot("category")

			b.run("nothing found", chromedp.Navigate(b.base+"/#/search?q=zzqxjv"), waitText("div", "Nothing matches"))
			var sortBars int
			b.run("sort bar", chromedp.Evaluate(`document.querySelectorAll("#sort").length`, &sortBars))
			if sortBars != 0 {
				t.Errorf("%d px: a sort bar over an empty result", width)
			}
			shot("nothing-found")

			// DR-001: 14 in stock, fewer than the 99 a cart line holds.
			var min, max string
			b.run("product", chromedp.Navigate(b.base+"/#/product/DR-001"), waitText("h1", "SkyEye 4K"),
				chromedp.AttributeValue("#qty", "min", &min, nil, chromedp.ByQuery),
				chromedp.AttributeValue("#qty", "max", &max, nil, chromedp.ByQuery))
			if min != "1" || max != "14" {
				t.Errorf("%d px: the quantity takes %s to %s, want 1 to 14 (the stock)", width, min, max)
			}
			b.run("too many", chromedp.SetValue("#qty", "15", chromedp.ByQuery), chromedp.Click(".product button", chromedp.ByQuery),
				waitText(`div[@id="inline-alert"]`, "Choose a quantity from 1 to 14"),
				chromedp.WaitVisible(`#qty[aria-invalid="true"]`, chromedp.ByQuery))
			shot("product-too-many")
			b.run("add", chromedp.SetValue("#qty", "2", chromedp.ByQuery), chromedp.Click(".product button", chromedp.ByQuery),
				waitText(`span[@id="cart-count"]`, "2"),
				chromedp.Navigate(b.base+"/#/product/KP-002"), waitText("h1", "Lidar Puck 360"),
				chromedp.Click(".product button", chromedp.ByQuery), waitText(`span[@id="cart-count"]`, "3"))

			email := strings.ToLower(testkit.UniqueName("ui")) + "@example.com"
			b.run("register", chromedp.Navigate(b.base+"/#/login"), chromedp.WaitVisible("#register-form", chromedp.ByQuery),
				chromedp.SendKeys("#register-name", "Grace Hopper", chromedp.ByQuery),
				chromedp.SendKeys("#register-email", email, chromedp.ByQuery),
				chromedp.SendKeys("#register-password", "correct horse", chromedp.ByQuery),
				chromedp.Click("#register-form button", chromedp.ByQuery), waitText("h1", "Your cart"), waitText("td", "Lidar Puck 360"))
			// The browser keeps the account's device token for its next login.
			var device string
			b.run("device token kept", chromedp.Evaluate(fmt.Sprintf(`JSON.parse(localStorage.getItem("devices") || "{}")[%q] || ""`, email), &device))
			if device == "" {
				t.Errorf("%d px: no device token kept for %s after registering", width, email)
			}
			fits("cart")
			shot("cart")

			b.run("checkout", chromedp.Click(`a[href="#/checkout"]`, chromedp.ByQuery), chromedp.WaitVisible("#checkout-form", chromedp.ByQuery))
			var prompts []string
			b.run("expiry prompts", chromedp.Evaluate(`[...document.querySelectorAll("#exp_month, #exp_year")].map((s) => s.options[s.selectedIndex].text)`, &prompts))
			if strings.Join(prompts, "|") != "Choose a month|Choose a year" {
				t.Errorf("%d px: the unselected expiry reads %q", width, prompts)
			}
			// Sent with the city and the card number left empty: the page says
			// the fields are highlighted, and they are.
			b.run("incomplete", chromedp.SetValue("#line1", "1 Compiler Way", chromedp.ByQuery),
				chromedp.SetValue("#postal_code", "22201", chromedp.ByQuery),
				chromedp.SetValue("#holder", "Grace Hopper", chromedp.ByQuery),
				chromedp.SetValue("#cvc", "123", chromedp.ByQuery),
				chromedp.SetValue("#exp_month", "12", chromedp.ByQuery),
				chromedp.SetValue("#exp_year", fmt.Sprint(time.Now().Year()+2), chromedp.ByQuery),
				chromedp.Click("#checkout-form button", chromedp.ByQuery),
				waitText(`div[contains(@class, "notice")]`, "highlighted"))
			var marked []string
			b.run("marked", chromedp.Evaluate(`[...document.querySelectorAll("[aria-invalid=true]")].filter((el) =>
				getComputedStyle(el).borderTopColor === "rgb(185, 28, 28)" && getComputedStyle(el).borderTopWidth === "2px").map((el) => el.id).sort()`, &marked))
			if strings.Join(marked, ",") != "city,number" {
				t.Errorf("%d px: the fields drawn as invalid are %v, want city and number", width, marked)
			}
			fits("checkout")
			shot("checkout-highlighted")

			b.run("pay", chromedp.SetValue("#city", "Arlington", chromedp.ByQuery),
				chromedp.SetValue("#number", "4242 4242 4242 4242", chromedp.ByQuery),
				chromedp.Click("#checkout-form button", chromedp.ByQuery), waitText("h1", "Thank you"),
				waitText("p", "Arlington 22201"))
			fits("confirmation")
			shot("confirmation")
		})
	}
}
