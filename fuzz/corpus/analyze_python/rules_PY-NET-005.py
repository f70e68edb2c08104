import requests
requests.post("https://webhook.site/abc", data="x")  # expect: PY-NET-005
URL = "https://discord.com/api/webhooks/1/x"
requests.post(URL, json={})  # expect: PY-NET-005
requests.get("https://example.com/api")
print("see https://pastebin.com/x")
