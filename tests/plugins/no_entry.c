/* no_entry.c - a shared object without the entry symbol: not a plugin. */
int cs_not_the_entry(void);

int cs_not_the_entry(void)
{
	return 42;
}
