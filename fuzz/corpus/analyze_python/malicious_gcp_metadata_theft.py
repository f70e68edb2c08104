import requests

url = "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"
token = requests.get(url, headers={"Metadata-Flavor": "Google"}).json()
print(token["access_token"])
