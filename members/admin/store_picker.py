"""The store picker of back-office forms that choose stores (a coupon template's 适用门店): the
theme's searchable select2 in Chinese (crm.admin_forms.ChinesePicker) plus one-click choices a
brand with a hundred stores needs — every store, all stores of a city, none. The buttons only
change which options are selected (static JS, members/store_picker.js, no CDN); the form is the
same multi-select and the service checks what is saved."""

from collections import Counter
from typing import Any

from django import forms

from crm.admin_forms import ChinesePicker

NO_CITY = "未填城市"


class StorePicker(ChinesePicker):
    template_name = "admin/members/widgets/store_picker.html"

    def create_option(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(*args, **kwargs)
        store = getattr(option["value"], "instance", None)  # a ModelChoiceIteratorValue
        if store is not None:
            option["attrs"]["data-city"] = store.city or NO_CITY
        return option

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        cities: Counter[str] = Counter()
        for choice, _label in self.choices:
            store = getattr(choice, "instance", None)
            if store is not None:
                cities[store.city or NO_CITY] += 1
        context["widget"]["cities"] = sorted(cities.items(), key=lambda item: (item[0] == NO_CITY, item[0]))
        context["widget"]["store_count"] = sum(cities.values())
        return context

    @property
    def media(self) -> forms.Media:
        return super().media + forms.Media(js=("members/store_picker.js",))
