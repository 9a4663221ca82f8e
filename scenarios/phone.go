package scenarios

import "github.com/olbot/olbot/answers"

// country is the region of phone numbers written without "+":
// settings.country, else the country of the scenario's default language
// when it names one (ru → RU); "" when neither does.
func (d *scenarioDef) country() string {
	if d.Settings.Country.ok() && d.Settings.Country.V != "" {
		return d.Settings.Country.V
	}
	if langs := d.Settings.Languages.V; len(langs) > 0 {
		return answers.LanguageRegion(langs[0].V)
	}
	return ""
}

// phoneCountry warns, once, when a scenario asks for phone numbers with no
// country to read those written without "+" for.
func (c *checker) phoneCountry() {
	d := c.def
	if d.country() != "" || d.Settings.Country.Set {
		return
	}
	for _, st := range d.States.V {
		if st.Type.V == answers.Phone {
			c.warnf(st.Type.At, "states."+st.Name+".type", ErrValue, "add settings.country: RU (the ISO code of your clients' country), so that 8 (999) 123-45-67 saves as +79991234567",
				"phone numbers without + are saved as typed, with + added: settings.country is missing")
			return
		}
	}
}
